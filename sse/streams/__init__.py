"""The request side of a stream: access (`access`), the response (`response`), resume and replay
(`resume`), subscribing and serving (`stream`), the endpoint (`views`).
"""
