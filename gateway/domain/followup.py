"""When to query an unresolved B-scan-C payment and when to give up and reverse it (CHANNELS.md section 6)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.domain.channels import Channel


@dataclass(frozen=True)
class FollowUpPolicy:
    """Query after each delay in turn (the last repeats) until `deadline_s` after creation, then reverse."""

    query_delays_s: tuple[float, ...]
    deadline_s: float
    reverse_retry_s: float  # wait before calling reverse again when the channel asks (recall=Y, retry_flag=Y)
    max_backoff_s: float = 300.0  # longest wait between retries while a channel keeps failing

    def query_delay(self, attempt: int) -> float:
        return self.query_delays_s[min(attempt, len(self.query_delays_s) - 1)]

    def retry_delay(self, attempt: int) -> float:
        """Backoff for calls that failed without an answer: reverse_retry_s doubling up to max_backoff_s."""
        return min(self.reverse_retry_s * 2 ** min(attempt, 16), self.max_backoff_s)


#: WeChat: first query 5 s after SYSTEMERROR/USERPAYING, then every 5 s, reverse at 30 s (>= 15 s after creation),
#: again while recall=Y. Alipay: query every 3-6 s for about 60 s, cancel right after, again every 2 s while
#: retry_flag=Y. UnionPay: queries 1, 2, 4, 8, 16, 32 s apart (63 s), then close.
DEFAULT_FOLLOW_UP: dict[Channel, FollowUpPolicy] = {
    Channel.WECHAT: FollowUpPolicy(query_delays_s=(5.0,), deadline_s=30.0, reverse_retry_s=2.0),
    Channel.ALIPAY: FollowUpPolicy(query_delays_s=(3.0, 5.0), deadline_s=60.0, reverse_retry_s=2.0),
    Channel.UNIONPAY: FollowUpPolicy(
        query_delays_s=(1.0, 2.0, 4.0, 8.0, 16.0, 32.0), deadline_s=63.0, reverse_retry_s=2.0
    ),
}
