"""The streams of one process: `ChannelHub` (one per event loop) and its parts.

The parts get what they use of the hub (`parts`), never the hub: `groups` (one channel's
local streams, in log order), `subscriber` (one stream's queue), `catchup` (what channels
missed, merged in publish order), `log_poll` (the log's heads against what was delivered),
`inbox` (events handed in from other threads), `heartbeats` (the one timer: heartbeats and
deadlines, for any stream), `caps` (streams per process and per user), `replay_budget`
(long replays take turns), `log_threads` (the hub's reads and trims of the event log, off
the loop), `stats`, `gc_tuning`.
"""
