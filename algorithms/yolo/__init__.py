"""YOLO image classification and object detection with ultralytics, offline: ``offline`` (importing
ultralytics safely), ``data`` (release splits → ultralytics datasets), ``training`` (params, fit, per-epoch
metrics), ``model`` (the served pyfunc), ``algorithm`` (the two registered algorithms). Heavy libraries
(torch, ultralytics) are imported inside functions, so registering the algorithms stays cheap."""
