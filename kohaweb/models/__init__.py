"""The shared catalogue: SQLAlchemy models following Koha's table and column names,
so that saved SQL reports written for Koha run here unchanged."""

from .base import Base, LongText, utcnow
from .biblio import (
    Authority,
    Biblio,
    BiblioMetadata,
    DeletedAuthority,
    DeletedBiblio,
    DeletedBiblioMetadata,
    DeletedItem,
    Item,
)
from .circulation import Checkout, CirculationRule, Hold, OldCheckout, OldHold
from .imports import ImportedFile
from .library import AuthorisedValue, IdCounter, ItemType, Library, PatronCategory, SystemPreference
from .outbox import RecordChangeOutbox
from .patrons import (
    AccountLine,
    ApiKey,
    OAuthAccessToken,
    Patron,
    PatronAttribute,
    PatronAttributeType,
    PatronPermission,
    PatronRestriction,
)
from .security import LoginFailure, LoginSession
from .system import OaiSet, OaiSetBiblio, OaiSetDescription, OaiSetMapping, SavedReport

__all__ = [
    "AccountLine", "ApiKey", "AuthorisedValue", "Authority", "Base", "Biblio", "BiblioMetadata", "Checkout",
    "CirculationRule", "DeletedAuthority", "DeletedBiblio", "DeletedBiblioMetadata", "DeletedItem", "Hold", "IdCounter", "ImportedFile", "Item", "ItemType", "Library", "LoginFailure",
    "LoginSession", "LongText",
    "OAuthAccessToken", "OaiSet", "OaiSetBiblio", "OaiSetDescription", "OaiSetMapping", "OldCheckout",
    "OldHold", "Patron", "PatronAttribute", "PatronAttributeType", "PatronCategory", "PatronPermission",
    "PatronRestriction", "RecordChangeOutbox", "SavedReport", "SystemPreference", "utcnow",
]
