"""Gettext catalogs (`<lang>/LC_MESSAGES/tinbao.po`), shipped with the package."""

from pathlib import Path

LOCALES_DIR = Path(__file__).parent
DOMAIN = "tinbao"
