"""The systems this project is measured against, each as small as it can honestly be."""
