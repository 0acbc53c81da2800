"""The channel layer both ways (`layer`): publishers' sends to other processes, a hub's one layer channel."""
