"""Countries the gateway serves: their time zone, default language and phone numbering.

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
    calling_code: int  # international dialling code (+266): local numbers are read in this plan
    # (phonenumbers' region is the ISO code itself, ``code``; a test checks the two agree)


COUNTRIES: dict[str, Country] = {
    c.code: c
    for c in (
        Country("AO", "Angola", "Africa/Luanda", "pt", 244),
        Country("BW", "Botswana", "Africa/Gaborone", "en", 267),
        Country("CD", "DR Congo", "Africa/Kinshasa", "en", 243),
        Country("ET", "Ethiopia", "Africa/Addis_Ababa", "en", 251),
        Country("GH", "Ghana", "Africa/Accra", "en", 233),
        Country("KE", "Kenya", "Africa/Nairobi", "en", 254),
        Country("LS", "Lesotho", "Africa/Maseru", "en", 266),
        Country("MW", "Malawi", "Africa/Blantyre", "en", 265),
        Country("MZ", "Mozambique", "Africa/Maputo", "pt", 258),
        Country("NA", "Namibia", "Africa/Windhoek", "en", 264),
        Country("NG", "Nigeria", "Africa/Lagos", "en", 234),
        Country("RW", "Rwanda", "Africa/Kigali", "en", 250),
        Country("SZ", "Eswatini", "Africa/Mbabane", "en", 268),
        Country("TZ", "Tanzania", "Africa/Dar_es_Salaam", "sw", 255),
        Country("UG", "Uganda", "Africa/Kampala", "en", 256),
        Country("ZA", "South Africa", "Africa/Johannesburg", "en", 27),
        Country("ZM", "Zambia", "Africa/Lusaka", "en", 260),
        Country("ZW", "Zimbabwe", "Africa/Harare", "en", 263),
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
