"""The REST service: FastAPI app, micro-batching, hot model swap, auth, metrics, request logging."""
