"""The hosted booking page (``GET /book``, ``POST /book``, ``GET /book/calendar``): a page a
practice can link to or embed, rendered on the server so that it works without JavaScript.

Only the page function imports this package; the API function's cold start never pays for it.
Nothing here books: every booking goes through ``BookingService.book_from_form`` (channel
``page``) and every open time through ``BookingService.search_open_times``.

- ``settings``: the page's own configuration (address, logo, accent, form key, Turnstile).
- ``signing``: the signed form token and the signed calendar links (HMAC, Secrets Manager key).
- ``colours``: the accent and the text colours that keep 4.5:1 contrast on it.
- ``schedule``: open times as a week of days, one day's times, in the practice's zone.
- ``wording``: every sentence a visitor reads about a field or an error.
- ``calendar``: the ``.ics`` file of a confirmation.
- ``render``: the HTML (templates/ holds the page, its CSS and its script).
- ``views``: what each request shows, from the visitor's input and the service's answers.
"""
