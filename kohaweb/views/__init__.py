"""Core pages: home, login/logout, and the error views shared by every service."""

from pyramid.config import Configurator


def includeme(config: Configurator) -> None:
    config.include("kohaweb.views.home")
    config.include("kohaweb.views.health")
    config.include("kohaweb.views.index_status")
    config.add_route("home", "/")
    config.add_route("login", "/login")
    config.add_route("logout", "/logout")
    config.add_route("favicon", "/favicon.ico")
    config.add_static_view("static", "kohaweb:static", cache_max_age=3600)
    config.scan("kohaweb.views.pages")
    config.scan("kohaweb.views.errors")
