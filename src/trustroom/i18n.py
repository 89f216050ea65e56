"""Localization: DE, EN, FR and IT message catalogs and the request's language.

Catalogs are the `.po` files under `locale/`; they are compiled in memory when first used,
so the repository holds no generated binaries. The language of the current request or job
lives in a context variable: `?language=` beats `Accept-Language`, which beats the
tenant's default, which beats the server default.

Names of countries, subdivisions and languages, dates, numbers and sizes are written here
too, in one way for every page and list: countries and languages from Babel (CLDR, the
names people read in their software), subdivisions from pycountry's ISO 3166-2 catalogs.
Pages print times in UTC, and say so: there is no tenant or member time zone setting.
"""

from __future__ import annotations

import gettext as gettext_module
import io
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

import pycountry
from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_time as babel_format_time
from babel.dates import get_datetime_format
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations
from babel.units import format_unit

from .settings import LANGUAGES

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

current_language: ContextVar[str] = ContextVar("current_language", default="en")
# Whether the request named its language; if not, the tenant's default applies once known.
language_chosen: ContextVar[bool] = ContextVar("language_chosen", default=False)
# Whether it was named by `?language=` (a pick), not guessed from Accept-Language.
language_asked: ContextVar[bool] = ContextVar("language_asked", default=False)


@cache
def translations(language: str) -> NullTranslations:
    po_path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.exists():
        return NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def gettext(message: str, **params: object) -> str:
    text = translations(current_language.get()).gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: object) -> str:
    text = translations(current_language.get()).ngettext(singular, plural, n)
    # `%(num)s` is the count written the locale's way (1'234 / 1.234 / 1 234).
    return text % {"num": format_number(n), **params}


def normalize(language: str | None) -> str | None:
    """`DE`, `de-CH` or `de_CH` → `de`; None when not one of ours."""
    if not language:
        return None
    base = language.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The best of our languages in an Accept-Language header, honouring q-values."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = normalize(tag)
        if language and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else None


# --- names of countries, subdivisions and languages ------------------------------------------


@cache
def _locale(language: str) -> Locale:
    """A language (`de`) or a regional locale, in either spelling (`de-CH`, `de_CH`)."""
    return Locale.parse(language.replace("-", "_"))


@cache
def _pycountry_translator(domain: str, language: str) -> Callable[[str], str]:
    if language == "en":
        return lambda text: text
    try:
        return gettext_module.translation(domain, pycountry.LOCALES_DIR, languages=[language]).gettext
    except OSError:  # no catalog for this language: English names
        return lambda text: text


def country_name(code: str, language: str | None = None) -> str:
    """`CH` → Schweiz / Suisse / Svizzera / Switzerland; an unknown code is shown as it is."""
    key = code.upper()
    name = _locale(language or current_language.get()).territories.get(key)
    if name is None:
        country = pycountry.countries.get(alpha_2=key)
        return country.name if country is not None else code
    return str(name)


def language_name(code: str, language: str | None = None) -> str:
    """`DE` → Deutsch / allemand …, capitalized as the first word of a list entry is."""
    name = _locale(language or current_language.get()).languages.get(code.lower())
    if name is None:
        return code
    text = str(name)
    return text[:1].upper() + text[1:]


def subdivision_name(code: str, language: str | None = None) -> str:
    """`CH-GE` → Genf / Genève / Ginevra / Geneva where the ISO 3166-2 catalog translates it."""
    name = _subdivision_names().get(code.upper())
    if name is None:
        return code
    return _pycountry_translator("iso3166-2", language or current_language.get())(name)


@cache
def _subdivision_names() -> dict[str, str]:
    return {subdivision.code: subdivision.name for subdivision in pycountry.subdivisions}


# --- dates, numbers and sizes ------------------------------------------------------------------


def format_datetime(value: datetime, language: str | None = None, *, seconds: bool = False) -> str:
    """`05.03.2025, 14:30 UTC`: the locale's medium date and short time (medium, with seconds,
    for records such as the audit report), in UTC. `language` may be a regional locale (`de-CH`)."""
    locale = _locale(language or current_language.get())
    moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    day = babel_format_date(moment, "medium", locale=locale)
    time = babel_format_time(moment, "medium" if seconds else "short", tzinfo=UTC, locale=locale)
    return f"{str(get_datetime_format('medium', locale=locale)).replace('{1}', day).replace('{0}', time)} UTC"


def format_day(value: date, language: str | None = None) -> str:
    """A date (or a moment's UTC date) in the locale's medium form: `05.03.2025`, `5 mars 2025`."""
    if isinstance(value, datetime):
        value = (value.astimezone(UTC) if value.tzinfo else value).date()
    return babel_format_date(value, "medium", locale=_locale(language or current_language.get()))


def format_number(value: int | float | Decimal, language: str | None = None) -> str:
    """`1'234.5` / `1.234,5` / `1 234,5`: the locale's separators."""
    return format_decimal(value, locale=_locale(language or current_language.get()))


SIZE_UNITS = ((1000**3, "digital-gigabyte"), (1000**2, "digital-megabyte"), (1000, "digital-kilobyte"))


def format_size(byte_count: int, language: str | None = None) -> str:
    """A file size in decimal units, with one decimal above a kilobyte: `512 Byte`, `1,5 MB`, `12,0 ko`."""
    locale = _locale(language or current_language.get())
    for factor, unit in SIZE_UNITS:
        # Always one decimal: CLDR's singular forms for these units are odd ("1 kbyte" in German).
        amount = (Decimal(byte_count) / factor).quantize(Decimal("0.1"))
        if amount >= 1:  # 999,999 bytes read as 1,0 MB, not 1.000,0 kB
            return format_unit(amount, unit, length="short", format="#,##0.0", locale=locale)
    return format_unit(byte_count, "digital-byte", length="short", locale=locale)
