"""The DASH paper's theory, runnable (numpy only)."""
from .model import *  # noqa
from .process import *  # noqa
from .experiment import *  # noqa
