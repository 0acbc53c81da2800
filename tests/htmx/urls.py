"""The demo's URLs, plus /news/: the recipe page of docs/htmx.md (?htmx=4 for its htmx 4 form,
?htmx=2-ext for the one on htmx-ext-sse)."""

from __future__ import annotations

import importlib

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from project.urls import urlpatterns as project_urls

importlib.import_module("news")  # the recipe's module (on PYTHONPATH): its channel rule


@login_required
def news_page(request: HttpRequest) -> HttpResponse:
    pages = {"4": "news/page4.html", "2-ext": "news/page-ext.html"}
    template = pages.get(request.GET.get("htmx", ""), "news/page.html")
    return render(request, template, {"items": []})


urlpatterns = [path("news/", news_page), *project_urls]
