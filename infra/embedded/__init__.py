"""The embedded platform: the servers `mlops up` starts on 127.0.0.1 under one data directory."""
