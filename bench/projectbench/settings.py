from project.settings import *  # noqa: F403

ROOT_URLCONF = "bench.projectbench.urls"
