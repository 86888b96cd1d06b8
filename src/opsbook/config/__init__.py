"""opsbook.yaml -> typed models, with located errors and masked secrets."""

from opsbook.config.durations import Duration, format_duration, parse_duration
from opsbook.config.errors import ConfigError, ConfigIssue
from opsbook.config.loader import find_config, load_config, parse_config
from opsbook.config.models import Config
from opsbook.config.secrets import MASK, Secret, SecretUrl, collect_secrets, mask_text

__all__ = [
    "MASK",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "Duration",
    "Secret",
    "SecretUrl",
    "collect_secrets",
    "find_config",
    "format_duration",
    "load_config",
    "mask_text",
    "parse_config",
    "parse_duration",
]
