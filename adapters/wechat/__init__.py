"""WeChat Pay APIv2 (XML): signing, wire formats, the adapter and the channel simulator."""
