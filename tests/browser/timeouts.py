"""Every UI timeout of the browser tests, in one place (generous: tests must pass on a slow machine)."""

SERVER_START_S = 90
PAGE_LOAD_MS = 90_000
KERNEL_IDLE_MS = 120_000
WIDGET_MS = 90_000
GENERATION_MS = 180_000
VIDEO_MS = 60_000
TEST_TIMEOUT_S = 420
