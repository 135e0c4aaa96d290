"""Delaydesk settings: one module, read from the environment.

Development defaults run a fresh checkout (SQLite in WAL mode, a broker that needs no server).
``DELAYDESK_ENV=production`` turns on the secure defaults and refuses to start without a real
``SECRET_KEY`` and ``ALLOWED_HOSTS``.
"""

from __future__ import annotations

from pathlib import Path

from django.utils.translation import gettext_lazy as _

from config.env import (
    ConfigError,
    env_bool,
    env_choice,
    env_database,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("DELAYDESK_VAR_DIR", str(BASE_DIR / "var")))

ENVIRONMENT = env_choice("DELAYDESK_ENV", "development", ("development", "production", "test"))
PRODUCTION = ENVIRONMENT == "production"

DEV_SECRET_KEY = "django-insecure-delaydesk-development-key-never-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", "" if PRODUCTION else DEV_SECRET_KEY)
if PRODUCTION and (not SECRET_KEY or SECRET_KEY == DEV_SECRET_KEY):
    raise ConfigError("SECRET_KEY", "must be set to a long random value in production")
if PRODUCTION and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5):
    raise ConfigError("SECRET_KEY", "must be at least 50 characters with 5 distinct ones")

DEBUG = env_bool("DEBUG", not PRODUCTION)
if PRODUCTION and DEBUG:
    raise ConfigError("DEBUG", "must be false in production")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ConfigError("ALLOWED_HOSTS", "must list the host names this site answers to")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# The branded 403 page (JSON under /api/) instead of Django's bare one.
CSRF_FAILURE_VIEW = "core.views.csrf_failure"

SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # modeltranslation patches the admin, so it comes before it.
    "modeltranslation",
    # django.contrib.admin whose default site admits operators and superusers only.
    "core.admin_apps.DelaydeskAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "axes",
    "csp",
    "core",
    "customers",
    "shipments",
    "tickets",
    "compensation",
    "notifications",
    "supervisor",
    "portal",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Near the top: answers given by a middleware below it (a redirect, a refused request) carry
    # the Content-Security-Policy too.
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # An HTML 404 under /api/ (Django's technical page while DEBUG is on) becomes the JSON one.
    "core.api_errors.ApiNotFoundAsJsonMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A NUL in a path or query string is a 400 before any view looks it up (core.inputs).
    "core.inputs.RefuseNulMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "core.middleware.UserTimezoneMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out user or address before the password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.roles",
            ],
        },
    }
]

DATABASES = {"default": env_database("DATABASE_URL", str(VAR_DIR / "delaydesk.sqlite3"))}
if (
    DATABASES["default"]["ENGINE"].endswith("sqlite3")
    and DATABASES["default"]["NAME"] != ":memory:"
):
    # The embedded default keeps its files under var/; make sure the folder exists.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
# A read replica for reports (README "How to scale out"): REPORTS_DATABASE_URL, written like
# DATABASE_URL, adds the alias "reports" that the supervisor's figures, charts, lists and
# exports read from (core.db.reports_db); writes and the approvals queue stay on the primary.
# Unset: no second alias, reports read the primary as everything else does.
if env_str("REPORTS_DATABASE_URL", "").strip():
    DATABASES["reports"] = env_database("REPORTS_DATABASE_URL", "")
    if DATABASES["reports"]["ENGINE"].endswith("postgresql"):
        # Read-only sessions: a write sent there by mistake fails at once, even when the URL
        # names the primary itself (a streaming replica refuses writes anyway).
        DATABASES["reports"]["OPTIONS"]["options"] += " -c default_transaction_read_only=on"
    # A test run reads the test database through this second connection: never a database of
    # its own to create and migrate.
    DATABASES["reports"]["TEST"] = {"MIRROR": "default"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Internationalisation: every page an agent or customer reads exists in English and zh-Hans.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Admin-managed texts (macro names, milestone labels, delay rule descriptions) are translated
# with django-modeltranslation; a text not yet translated shows in English.
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en",)
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"  # the database and the server speak UTC; pages use the reader's zone
DEFAULT_DISPLAY_TIME_ZONE = env_str("DELAYDESK_DISPLAY_TIME_ZONE", "UTC")

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
if not PRODUCTION:
    # whitenoise serves from finders in development but still expects the folder to exist.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Email: console in development, SMTP in production (EMAIL_HOST and friends).
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
# Seconds an SMTP connection or reply may take: without it a hung mail server holds a dispatcher
# worker forever (docs/RELIABILITY.md); the notice is retried like any failed send.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ConfigError("EMAIL_USE_SSL", "cannot be on together with EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Delaydesk <support@delaydesk.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# SMS and push go through Delaydesk's own small backend interface (notifications app):
# notifications.backends.Console*/File*/Null* for development and benchmarks,
# notifications.backends.TwilioSMSBackend for a provider speaking Twilio's Messages API.
SMS_BACKEND = env_str("SMS_BACKEND", "notifications.backends.ConsoleSMSBackend")
SMS_API_URL = env_str("SMS_API_URL", "").rstrip("/")  # e.g. https://api.twilio.com
SMS_ACCOUNT_SID = env_str("SMS_ACCOUNT_SID", "")
SMS_API_KEY = env_str("SMS_API_KEY", "")  # Twilio's auth token; also signs delivery receipts
SMS_FROM = env_str("SMS_FROM", "")  # a sender number (+E.164) or a messaging service (MG...)
# Where the provider posts delivery receipts; empty: SITE_URL + /api/v1/notifications/receipts/sms/
SMS_STATUS_CALLBACK_URL = env_str("SMS_STATUS_CALLBACK_URL", "")
SMS_TIMEOUT_SECONDS = env_int("SMS_TIMEOUT_SECONDS", 10, minimum=1)
PUSH_BACKEND = env_str("PUSH_BACKEND", "notifications.backends.ConsolePushBackend")
# The File* backends append one JSON line per message to <channel>.jsonl in this folder.
NOTIFICATIONS_FILE_DIR = Path(env_str("NOTIFICATIONS_FILE_DIR", str(VAR_DIR / "outbox")))

# Celery: a broker that needs no server by default (kombu's filesystem transport), so
# `make run` works on a bare machine; Redis or RabbitMQ through CELERY_BROKER_URL in production.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
BROKER_SCHEMES = {"filesystem", "redis", "rediss", "amqp", "amqps", "pyamqp", "memory"}
if CELERY_BROKER_URL.split("://", 1)[0] not in BROKER_SCHEMES:
    raise ConfigError("CELERY_BROKER_URL", f"unsupported broker URL {CELERY_BROKER_URL!r}")
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {}
)
for _folder in ("data_folder_in", "processed_folder", "control_folder"):
    if _folder in CELERY_BROKER_TRANSPORT_OPTIONS:
        Path(CELERY_BROKER_TRANSPORT_OPTIONS[_folder]).mkdir(parents=True, exist_ok=True)
# kombu's filesystem transport keeps fanout bindings in one JSON file, which a worker starting
# beside another can read half-written and die on (JSONDecodeError at start-up). Remote control
# (`celery inspect`, `celery control`) rides on that fanout: off for the embedded broker, on for
# Redis and RabbitMQ.
CELERY_WORKER_ENABLE_REMOTE_CONTROL = not CELERY_BROKER_URL.startswith("filesystem")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A request or command that queues a task after its commit must not hang on a dead broker: the
# connection gives up after this long, publishing retries once, and core.queue then logs the fault,
# stops trying for a few seconds and leaves the work to the sweepers (the database has it).
BROKER_TIMEOUT_SECONDS = env_int("BROKER_TIMEOUT_SECONDS", 1, minimum=1)
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_TIMEOUT_SECONDS
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
if CELERY_BROKER_URL.startswith("redis"):
    # redis-py waits forever by default, for the connection and for an answer (a worker's BRPOP
    # answers within its 1 s poll, so one more second is enough).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
        "socket_timeout": BROKER_TIMEOUT_SECONDS + 1,
    }
# Beat runs core.heartbeat this often; /healthz reports how long ago a worker ran it.
HEARTBEAT_INTERVAL_SECONDS = env_int("HEARTBEAT_INTERVAL_SECONDS", 60, minimum=1)

REST_FRAMEWORK = {
    # JSON bodies are depth-checked before parsing (core.outside_input).
    "DEFAULT_PARSER_CLASSES": [
        "core.outside_input.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # DRF's cursor pagination, with the position of a forged cursor checked (core.inputs).
    "DEFAULT_PAGINATION_CLASS": "core.inputs.StrictCursorPagination",
    "PAGE_SIZE": 50,
    # Every API error as {"detail", "code", "errors"} (core/api_errors.py, README "Errors").
    "EXCEPTION_HANDLER": "core.api_errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Delaydesk API",
    "DESCRIPTION": "Shipments, tracking events, tickets and compensation for late parcels.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No validator badge: it would send the schema's address to swagger.io (and the CSP's
    # img-src refuses the image anyway).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    # The error answers of every operation, in the one shape (core/api_errors.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api_errors.add_error_responses",
    ],
    # A PATCH documents the serializer as it validates: `version` is required there.
    "COMPONENT_SPLIT_PATCH": False,
    # A text field that refuses "" says so (minLength 1), e.g. a message's body.
    "ENFORCE_NON_BLANK_FIELDS": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # Customers' link tokens never reach a log (core/logging.py).
    "filters": {"redact_tokens": {"()": "core.logging.RedactTokens"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# Security: strict in production, so that `manage.py check --deploy` reports nothing.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    # Subdomains and the browsers' preload list are the operator's decision, not a default.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    # Off by the operator's choice is not a finding: check --deploy stays quiet about it.
    SILENCED_SYSTEM_CHECKS = [
        check
        for check, opted_in in (
            ("security.W005", SECURE_HSTS_INCLUDE_SUBDOMAINS),
            ("security.W021", SECURE_HSTS_PRELOAD),
        )
        if not opted_in
    ]
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# A shared cache for rate limits and login lockouts: every web process must see the same
# counters, so never a per-process memory cache. The database cache (table created by a core
# migration) on the embedded default; Redis in production through CACHE_URL.
CACHE_URL = env_str("CACHE_URL", "")
if not CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "delaydesk_cache",
            # Past MAX_ENTRIES Django deletes the expired rows, then a third of the live ones,
            # rate-limit counters included: room for a few thousand client addresses a
            # minute (the default 300 is few), while the COUNT(*) of every write stays cheap.
            "OPTIONS": {"MAX_ENTRIES": 5_000},
        }
    }
elif CACHE_URL.split("://", 1)[0] in {"redis", "rediss"}:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
else:
    raise ConfigError("CACHE_URL", f"expected redis://HOST:6379/1 or empty, got {CACHE_URL!r}")

# Login lockout (django-axes): this many failures lock the username and, separately, the client
# address, for AXES_COOLOFF_MINUTES; operators unlock earlier in the admin ("Access attempts")
# or with `manage.py axes_reset_username NAME` / `axes_reset_ip ADDRESS`.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The lockout page with 429 and Retry-After (axes' own answer has no Retry-After).
AXES_LOCKOUT_CALLABLE = "core.login.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# Behind a proxy, the client address comes from X-Forwarded-For (set AXES_IPWARE_PROXY_COUNT).
AXES_IPWARE_PROXY_COUNT = env_int("AXES_IPWARE_PROXY_COUNT", 0, minimum=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

# Rate limits of the public endpoints, "COUNT/PERIOD" with PERIOD s, m or h (django-ratelimit).
RATELIMIT_ENABLE = env_bool("RATELIMIT_ENABLE", True)
RATELIMIT_WEBHOOK = env_str("RATELIMIT_WEBHOOK", "600/m")  # per carrier
RATELIMIT_RECEIPTS = env_str("RATELIMIT_RECEIPTS", "600/m")  # per client address
RATELIMIT_PUBLIC_LINK = env_str("RATELIMIT_PUBLIC_LINK", "30/m")  # survey/progress, per address
RATELIMIT_LOGIN = env_str("RATELIMIT_LOGIN", "20/m")  # login form posts, per address

# Times that come from outside (carrier scans, merchants' dates) must fall in this window:
# not before OUTSIDE_TIME_MIN_YEAR, not more than OUTSIDE_TIME_MAX_AHEAD_HOURS after receipt.
OUTSIDE_TIME_MIN_YEAR = env_int("OUTSIDE_TIME_MIN_YEAR", 2000, minimum=1)
OUTSIDE_TIME_MAX_AHEAD_HOURS = env_int("OUTSIDE_TIME_MAX_AHEAD_HOURS", 24, minimum=0)
# Promises (a delivery date) lie ahead by nature: at most this many days after receipt.
OUTSIDE_PROMISE_MAX_AHEAD_DAYS = env_int("OUTSIDE_PROMISE_MAX_AHEAD_DAYS", 366, minimum=1)
# Bodies from outside are refused (413) past these sizes before they are read. A webhook batch
# of 1,000 events of the largest size is about 1.3 MB; Django's DATA_UPLOAD_MAX_MEMORY_SIZE
# (2.5 MB) still caps any body it reads. A delivery receipt is a short form.
WEBHOOK_MAX_BODY_BYTES = env_int("WEBHOOK_MAX_BODY_BYTES", 2 * 1024 * 1024, minimum=1024)
RECEIPTS_MAX_BODY_BYTES = env_int("RECEIPTS_MAX_BODY_BYTES", 16 * 1024, minimum=1024)

# Content-Security-Policy (django-csp): no inline scripts or styles anywhere; every asset from
# our own origin; nobody may frame a page.
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
        "frame-ancestors": [NONE],
    }
}

# Customer progress links (/t/<token>/, the portal app). A link stops working this many days
# after its ticket closes (and so does a page session opened with it).
PROGRESS_LINK_TTL_DAYS = env_int("PROGRESS_LINK_TTL_DAYS", 60, minimum=1)
# Every notice that carries a link carries a new one; the link of the notice before keeps
# working this many hours more, then only the newest link opens the page.
PROGRESS_LINK_GRACE_HOURS = env_int("PROGRESS_LINK_GRACE_HOURS", 72, minimum=0)
# A case page, once rendered, is served again from a cache in each web process while nothing it
# shows has changed (portal.page_cache: the key sums up everything the page reads, so a new
# message, scan, remedy or answer is on the very next view), for at most this many seconds: the
# bound on how long "in 2 hours" may lag. 0: never cached. A per-process memory cache is right
# here: an entry is found only by the state of the case it shows, whichever process made it.
PORTAL_PAGE_CACHE_SECONDS = env_int("PORTAL_PAGE_CACHE_SECONDS", 60, minimum=0)
CACHES["portal_pages"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "portal-pages",
    "TIMEOUT": PORTAL_PAGE_CACHE_SECONDS,
    "OPTIONS": {"MAX_ENTRIES": 2_000},  # about 20 KB a page: 40 MB a process at most
}
# The agent's ticket page keeps its rendered timeline (and each of its rows) and scans in each
# web process, under keys that sum up every row they show (tickets.fragments: a new message,
# event or scan is on the very next view). The timeout only bounds how long a renamed agent
# keeps the old name in a kept timeline.
CACHES["ticket_fragments"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "ticket-fragments",
    "TIMEOUT": 600,
    # About 1 KB an entry on average (a timeline of n rows comes with its n rows): ~10 MB.
    "OPTIONS": {"MAX_ENTRIES": 10_000},
}
# The satisfaction survey goes out this many hours after a ticket is solved; an answer can be
# changed for SURVEY_EDIT_DAYS after it is given; an unanswered survey closes SURVEY_CLOSE_DAYS
# after the ticket was solved.
SURVEY_DELAY_HOURS = env_int("SURVEY_DELAY_HOURS", 24, minimum=0)
SURVEY_EDIT_DAYS = env_int("SURVEY_EDIT_DAYS", 7, minimum=0)
SURVEY_CLOSE_DAYS = env_int("SURVEY_CLOSE_DAYS", 28, minimum=1)

# Delay detection opens a proactive ticket when a shipment first reaches this level (or a worse
# one): "yellow" (slow in transit) is the first observed delay level of shared/DOMAIN.md.
# "will_be_late" (the late-delivery model's forecast) tells the customer early but opens a
# ticket only if set here.
PROACTIVE_TICKET_MIN_LEVEL = env_choice(
    "PROACTIVE_TICKET_MIN_LEVEL",
    "yellow",
    ("will_be_late", "yellow", "hub_hold", "orange", "red", "long_delay"),
)

# Notifications (shared/DOMAIN.md, "Proactive communication"): when and how often customers hear
# from us. Tolerances are per customer tier, overridden by the customer's own tolerance.
NOTICE_DELAY_MINUTES = env_int("NOTICE_DELAY_MINUTES", 0, minimum=0)
NOTICE_TOLERANCE_HOURS = env_int("NOTICE_TOLERANCE_HOURS", 24, minimum=0)
NOTICE_TOLERANCE_HOURS_BY_TIER = {
    tier: env_int(f"NOTICE_TOLERANCE_HOURS_{tier.upper()}", NOTICE_TOLERANCE_HOURS, minimum=0)
    for tier in ("vip", "frequent_complainer", "regular", "new")
}
NOTICE_FREQUENCY_CAP_HOURS = env_int("NOTICE_FREQUENCY_CAP_HOURS", 24, minimum=0)
NOTICE_FOLLOW_UP_DAYS = env_int("NOTICE_FOLLOW_UP_DAYS", 3, minimum=1)
NOTICE_MAX_ATTEMPTS = env_int("NOTICE_MAX_ATTEMPTS", 5, minimum=1)
NOTICE_RETRY_BASE_SECONDS = env_int("NOTICE_RETRY_BASE_SECONDS", 60, minimum=1)
NOTICE_RETRY_MAX_SECONDS = env_int("NOTICE_RETRY_MAX_SECONDS", 3600, minimum=1)
# A row claimed by a worker that died goes back to the queue after this long.
NOTICE_CLAIM_TIMEOUT_SECONDS = env_int("NOTICE_CLAIM_TIMEOUT_SECONDS", 300, minimum=10)
NOTICE_BATCH_SIZE = env_int("NOTICE_BATCH_SIZE", 200, minimum=1)
# The dispatcher records outcomes in groups of up to this many rows (one UPDATE and one commit
# each). A send whose repeat would reach the customer, or that took milliseconds, is recorded
# at once; so a worker killed mid-group repeats at most this many sends to backends that drop
# a repeated reference or deliver nothing.
NOTICE_OUTCOME_GROUP_SIZE = env_int("NOTICE_OUTCOME_GROUP_SIZE", 20, minimum=1)
NOTICE_SMS_MAX_SEGMENTS = env_int("NOTICE_SMS_MAX_SEGMENTS", 3, minimum=1)

# Supervisor dashboard (supervisor.kpis): the target of each figure, green when met, red when
# not. The first five are shared/DOMAIN.md's ("KPIs the product must report"); the SLA goal is
# the service level most teams commit to. None: the figure shows no colour.
KPI_TARGETS = {
    "first_contact_hours": 24,  # detection -> first customer contact: under 24 h
    "csat_mean": 4.0,  # CSAT of affected customers: at least 4 / 5
    "resolved_without_escalation": 0.90,  # at least 90%
    "repurchase_30d": 0.25,  # 30-day repurchase of affected customers: at least 25%
    "negative_review_rate": 0.05,  # answers of 1 or 2 among affected customers: at most 5%
    "sla_compliance": 0.95,  # SLA timers met / (met + breached): at least 95%
    "proactive_share": None,  # told before they asked: no domain target
    "csat_response_rate": None,
    "csat_good_share": None,
}

# Agent scorecards (/supervisor/agents/, supervisor.scorecards): the weight in percent of each
# component of an agent's score (shared/DOMAIN.md, "KPIs": satisfaction 40, response time 20,
# resolution rate 20, complaint rate 10, proactive contacts 10). They must add up to 100: checked
# here and by the system check supervisor.E001 (which also sees a value set in code).
SCORECARD_WEIGHTS = {
    "satisfaction": env_int("SCORECARD_WEIGHT_SATISFACTION", 40, minimum=0),
    "response_time": env_int("SCORECARD_WEIGHT_RESPONSE_TIME", 20, minimum=0),
    "resolution": env_int("SCORECARD_WEIGHT_RESOLUTION", 20, minimum=0),
    "complaints": env_int("SCORECARD_WEIGHT_COMPLAINTS", 10, minimum=0),
    "proactive": env_int("SCORECARD_WEIGHT_PROACTIVE", 10, minimum=0),
}
if sum(SCORECARD_WEIGHTS.values()) != 100:
    raise ConfigError(
        "SCORECARD_WEIGHT_*",
        f"the five weights must add up to 100, they add up to {sum(SCORECARD_WEIGHTS.values())}",
    )
# The response-time component is 100 when an agent's median first response is at or under this
# many minutes (the domain's "first reply within 1 h"), falling linearly to 0 at 4 times it.
SCORECARD_RESPONSE_TARGET_MINUTES = env_int("SCORECARD_RESPONSE_TARGET_MINUTES", 60, minimum=1)

# Incident bulk actions (supervisor.incident_actions): a run covering up to this many customers
# or tickets (notify all, offer to all) is done within the request; a larger one runs in a
# Celery task and the incident page shows its progress.
SUPERVISOR_INCIDENT_ACTION_SYNC_LIMIT = env_int(
    "SUPERVISOR_INCIDENT_ACTION_SYNC_LIMIT", 2000, minimum=0
)
# A run queued or running this many minutes without an outcome lost its task (a worker killed,
# the broker down after the run was recorded): the beat job supervisor.requeue_incident_actions
# queues it again. A run is one statement per service, seconds even for 100,000 customers; a
# run taken over from a worker that was only slow still does nothing twice.
SUPERVISOR_INCIDENT_ACTION_STALE_MINUTES = env_int(
    "SUPERVISOR_INCIDENT_ACTION_STALE_MINUTES", 10, minimum=1
)

# The late-delivery model (shipments.risk, issue 16), retrained by the beat job
# shipments.train_late_model. Below this many parcels promised in the months it fits on, no
# model is trained: a few hundred parcels make noisy coefficients, and scoring keeps the
# lane-quantile rule (and says so).
LATE_MODEL_MIN_TRAINING_SHIPMENTS = env_int("LATE_MODEL_MIN_TRAINING_SHIPMENTS", 1000, minimum=1)
# Training reads promises of the last LATE_MODEL_HISTORY_DAYS; the latest LATE_MODEL_REPORT_DAYS
# of them are never trained on (the figures shown to operators come from them), and the
# LATE_MODEL_VALIDATION_DAYS before those choose the regularisation and the threshold.
LATE_MODEL_HISTORY_DAYS = env_int("LATE_MODEL_HISTORY_DAYS", 365, minimum=30)
LATE_MODEL_REPORT_DAYS = env_int("LATE_MODEL_REPORT_DAYS", 60, minimum=7)
LATE_MODEL_VALIDATION_DAYS = env_int("LATE_MODEL_VALIDATION_DAYS", 60, minimum=7)
