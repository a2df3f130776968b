"""mlops-lite's client side: the API's request and response models (``mlops_lite.schemas``, shared with the
server so that one declaration serves both) and the Python SDK (``mlops_lite.client``). Depends on pydantic and
httpx only: it runs on a machine with no access to the platform's database or object store."""
