"""Countries the gateway serves: their time zone and default language.

A programme outside this list adds a line here (and, for its own vaccine
schedule, a file under gateway/schedules/data; the WHO default covers it until then).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    code: str  # ISO 3166-1 alpha-2
    name: str
    timezone: str  # IANA zone used for local dates and send hours
    language: str  # default language for new clients


COUNTRIES: dict[str, Country] = {
    c.code: c
    for c in (
        Country("AO", "Angola", "Africa/Luanda", "pt"),
        Country("BW", "Botswana", "Africa/Gaborone", "en"),
        Country("CD", "DR Congo", "Africa/Kinshasa", "en"),
        Country("ET", "Ethiopia", "Africa/Addis_Ababa", "en"),
        Country("GH", "Ghana", "Africa/Accra", "en"),
        Country("KE", "Kenya", "Africa/Nairobi", "en"),
        Country("LS", "Lesotho", "Africa/Maseru", "en"),
        Country("MW", "Malawi", "Africa/Blantyre", "en"),
        Country("MZ", "Mozambique", "Africa/Maputo", "pt"),
        Country("NA", "Namibia", "Africa/Windhoek", "en"),
        Country("NG", "Nigeria", "Africa/Lagos", "en"),
        Country("RW", "Rwanda", "Africa/Kigali", "en"),
        Country("SZ", "Eswatini", "Africa/Mbabane", "en"),
        Country("TZ", "Tanzania", "Africa/Dar_es_Salaam", "sw"),
        Country("UG", "Uganda", "Africa/Kampala", "en"),
        Country("ZA", "South Africa", "Africa/Johannesburg", "en"),
        Country("ZM", "Zambia", "Africa/Lusaka", "en"),
        Country("ZW", "Zimbabwe", "Africa/Harare", "en"),
    )
}

# Every language the gateway knows, each in its own name. English is complete;
# another is offered to clients (USSD, console, API) only once every text is
# written and reviewed, in its file gateway/i18n/<code>.yaml or by programme
# staff on the console (gateway.i18n.offered_languages, docs/translations.md).
# No country limits its clients' choice: each country's `language` above is only
# the default for new clients, and falls back to English while not offered.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "pt": "Português",
    "sw": "Kiswahili",
    "ny": "Chichewa",
    "st": "Sesotho",
    "zu": "isiZulu",
    "xh": "isiXhosa",
    "tn": "Setswana",
    "ss": "siSwati",
    "lg": "Luganda",
    "bem": "Bemba",
}
