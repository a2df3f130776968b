"""Request bodies and response models of the platform API, one module per resource. The API declares its
routes with them (``api.routes``) and the SDK parses answers with them (``mlops_lite.client``)."""
