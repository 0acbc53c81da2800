"""What a channel is: names, patterns and their access rules (`registry`), rates and
conflation, and every throttle that applies them (`throttle`).
"""
