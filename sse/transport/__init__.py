"""The channel layer both ways: its messages (`messages`), publishers' sends to other processes
(`layer`, on the runtime's `sender` thread), a hub's one layer channel (`link`)."""
