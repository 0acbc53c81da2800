"""The wire format: the bytes of a stream (`encoding`) and the ids that say where a stream is (`cursor`).

Nothing here knows Django's request cycle, the hub or the log; every other part writes through it.
"""
