"""Who a stream stands for: signed stream tokens (`tokens`), sessions and users read in batches
(`batched`), the site's API credentials (`api_credentials`), and access that follows the user
while the stream is open (`revocation`).
"""
