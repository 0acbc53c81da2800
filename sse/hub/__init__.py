"""The streams of one process: `ChannelHub` (one per event loop) and its parts.

`groups` (one channel's local streams, in log order), `subscriber` (one stream's queue),
`catchup` (what channels missed, merged in publish order), `replay_budget` (long replays take
turns), `log_threads` (the hub's reads and trims of the event log, off the loop), `stats`.
"""
