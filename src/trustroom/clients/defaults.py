"""The details schemas every tenant starts with: a person (contact) and a legal entity.

Administrators replace them through `PUT /api/v1/schemas/{key}`; these are what a tenant
has until then. Field metadata follows `fields.py` (`x-field`); labels come in DE, EN, FR
and IT.
"""

from __future__ import annotations

from typing import Any

CONTACT = "contact"
LEGAL_ENTITY = "legalEntity"
SCHEMA_KEYS = (CONTACT, LEGAL_ENTITY)

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
E164 = r"^\+[1-9][0-9]{1,14}$"
COUNTRY_CODE = r"^[A-Z]{2}$"
SUBDIVISION_CODE = r"^[A-Z]{2}-[A-Z0-9]{1,3}$"


def _labels(de: str, en: str, fr: str, it: str) -> dict[str, str]:
    return {"de": de, "en": en, "fr": fr, "it": it}


def _text(labels: dict[str, str], *, max_length: int = 100, **meta: Any) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "x-field": {"labels": labels, **meta}}


# Personal data that may be exported.
_PERSONAL = {"isPersonalData": True, "isExportable": True}


def _email(**meta: Any) -> dict[str, Any]:
    labels = _labels("E-Mail", "Email", "E-mail", "E-mail")
    return {"type": "string", "format": "email", "maxLength": 320, "x-field": {"labels": labels, **meta}}


def _phone(labels: dict[str, str], **meta: Any) -> dict[str, Any]:
    """A phone number in E.164 form (`+41791234567`)."""
    return {"type": "string", "format": "phone", "pattern": E164, "x-field": {"labels": labels, **meta}}


def _communication(email: dict[str, Any], **phones: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "x-section": {"labels": _labels("Kommunikation", "Communication", "Communication", "Comunicazione")},
        "properties": {"email": email, **phones},
    }


def _address(*, of_person: bool) -> dict[str, Any]:
    """A postal address; a person's is personal data that the person may correct."""
    meta: dict[str, Any] = {**_PERSONAL, "isContactUpdatable": True} if of_person else {"isExportable": True}
    return {
        "type": "object",
        "additionalProperties": False,
        "x-section": {"labels": _labels("Adresse", "Address", "Adresse", "Indirizzo")},
        "properties": {
            "street": _text(_labels("Strasse", "Street", "Rue", "Via"), max_length=200, **meta),
            "postalCode": _text(
                _labels("Postleitzahl", "Postal code", "Code postal", "Codice postale"),
                max_length=20,
                **meta,
            ),
            "city": _text(_labels("Ort", "City", "Localité", "Località"), **meta),
            "country": {
                "type": "string",
                "pattern": COUNTRY_CODE,
                "x-field": {
                    "labels": _labels("Land", "Country", "Pays", "Paese"),
                    "listKey": "countries",
                    **meta,
                },
            },
            "subdivision": {
                "type": "string",
                "pattern": SUBDIVISION_CODE,
                "x-field": {
                    "labels": _labels("Kanton / Region", "State / region", "Canton / région", "Cantone / regione"),
                    "listKey": "subdivisions",
                    **meta,
                },
            },
        },
    }


def contact_schema() -> dict[str, Any]:
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": "urn:trustroom:schema:contact",
        "title": "Contact",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "personalInformation": {
                "type": "object",
                "additionalProperties": False,
                "x-section": {
                    "labels": _labels(
                        "Persönliche Angaben", "Personal information", "Informations personnelles", "Dati personali"
                    )
                },
                "properties": {
                    "firstName": _text(
                        _labels("Vorname", "First name", "Prénom", "Nome"),
                        **_PERSONAL,
                        isMandatory=True,
                        isApprovalRequired=True,
                    ),
                    "lastName": _text(
                        _labels("Nachname", "Last name", "Nom", "Cognome"),
                        **_PERSONAL,
                        isMandatory=True,
                        isApprovalRequired=True,
                    ),
                    "displayName": _text(
                        _labels("Anzeigename", "Display name", "Nom affiché", "Nome visualizzato"),
                        max_length=200,
                        **_PERSONAL,
                        isContactUpdatable=True,
                    ),
                    "birthDate": {
                        "type": "string",
                        "format": "date",
                        "x-field": {
                            "labels": _labels("Geburtsdatum", "Date of birth", "Date de naissance", "Data di nascita"),
                            **_PERSONAL,
                            "isApprovalRequired": True,
                        },
                    },
                    "nationality": {
                        "type": "string",
                        "pattern": COUNTRY_CODE,
                        "x-field": {
                            "labels": _labels("Nationalität", "Nationality", "Nationalité", "Nazionalità"),
                            "listKey": "countries",
                            **_PERSONAL,
                            "isApprovalRequired": True,
                        },
                    },
                    "language": {
                        "type": "string",
                        "enum": ["DE", "EN", "FR", "IT"],
                        "x-field": {
                            "labels": _labels("Sprache", "Language", "Langue", "Lingua"),
                            "listKey": "languages",
                            "isExportable": True,
                            "isContactUpdatable": True,
                        },
                    },
                },
            },
            "communication": _communication(
                _email(**_PERSONAL, isContactUpdatable=True, requiresVerification=True),
                mobile=_phone(
                    _labels("Mobiltelefon", "Mobile phone", "Téléphone mobile", "Cellulare"),
                    **_PERSONAL,
                    isContactUpdatable=True,
                    requiresVerification=True,
                ),
            ),
            "address": _address(of_person=True),
        },
        "required": ["personalInformation"],
    }


def legal_entity_schema() -> dict[str, Any]:
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": "urn:trustroom:schema:legal-entity",
        "title": "Legal entity",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "details": {
                "type": "object",
                "additionalProperties": False,
                "x-section": {"labels": _labels("Firma", "Company", "Société", "Società")},
                "properties": {
                    "name": _text(
                        _labels("Name", "Name", "Raison sociale", "Ragione sociale"),
                        max_length=200,
                        isExportable=True,
                        isMandatory=True,
                        isApprovalRequired=True,
                    ),
                    "legalForm": _text(
                        _labels("Rechtsform", "Legal form", "Forme juridique", "Forma giuridica"), isExportable=True
                    ),
                    "registrationNumber": {
                        "type": "string",
                        "pattern": r"^[A-Za-z0-9 .\-/]{1,40}$",
                        "x-field": {
                            "labels": _labels(
                                "Handelsregisternummer", "Registration number", "Numéro IDE", "Numero di registro"
                            ),
                            "isExportable": True,
                            "isApprovalRequired": True,
                        },
                    },
                    "lei": {
                        "type": "string",
                        "pattern": r"^[A-Z0-9]{18}[0-9]{2}$",
                        "x-field": {"labels": _labels("LEI", "LEI", "LEI", "LEI"), "isExportable": True},
                    },
                    "foundingDate": {
                        "type": "string",
                        "format": "date",
                        "x-field": {
                            "labels": _labels(
                                "Gründungsdatum", "Founding date", "Date de fondation", "Data di fondazione"
                            ),
                            "isExportable": True,
                        },
                    },
                },
            },
            "communication": _communication(
                _email(isExportable=True),
                phone=_phone(_labels("Telefon", "Phone", "Téléphone", "Telefono"), isExportable=True),
            ),
            "address": _address(of_person=False),
        },
        "required": ["details"],
    }


DEFAULTS = {CONTACT: contact_schema, LEGAL_ENTITY: legal_entity_schema}
