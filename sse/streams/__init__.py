"""The request side of a stream: who asks (`authentication`), may they and from where (`access`),
how a refusal reads (`refusals`), whether the server is set up (`readiness`), the response
(`response`), resume and replay (`resume`), a state first (`first`), subscribing and serving
(`stream`), the endpoint (`views`).
"""
