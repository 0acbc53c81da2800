"""The connect-rate ladder (``python -m bench.connect_ladder``): what each layer costs."""
