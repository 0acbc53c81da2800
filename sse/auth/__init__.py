"""Who a stream stands for: signed stream tokens (`tokens`), sessions and users read in batches
(`batched`), the site's API credentials (`api_credentials`), and access that follows the user
while the stream is open: whom a stream serves (`identity`), the hub's re-checks
(`revocation`, with `rule_answers`), `sse.access_changed` (`access_changes`) and the signals
that call it (`user_signals`).
"""
