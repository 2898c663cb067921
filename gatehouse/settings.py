"""Settings, read from the environment. README.md lists every variable.

Defaults give a zero set-up install: SQLite in WAL mode and Huey's queue in SQLite, both under ./var/.
"""

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATA_DIR = Path(os.environ.get("GATEHOUSE_DATA_DIR", PROJECT_DIR / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """The key comes from the environment or from a file made on first start; it is never in the repo."""
    if key := os.environ.get("GATEHOUSE_SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("GATEHOUSE_DEBUG", False)
ALLOWED_HOSTS = env_list("GATEHOUSE_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("GATEHOUSE_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_filters",
    "huey.contrib.djhuey",
    "gatehouse.core",
    "gatehouse.audit",
    "gatehouse.users",
    "gatehouse.directory",
    "gatehouse.catalog",
    "gatehouse.desk",
    "gatehouse.access",
    "gatehouse.endpoints",
    "gatehouse.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "gatehouse.core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "gatehouse.core.middleware.RequestContextMiddleware",
    "gatehouse.core.middleware.RejectNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "gatehouse.users.middleware.ExpiredAccessMiddleware",
    "gatehouse.core.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "gatehouse.urls"
WSGI_APPLICATION = "gatehouse.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "gatehouse.core.context_processors.navigation",
            ],
        },
    }
]

# Storage: SQLite in WAL mode by default; DATABASE_URL switches (postgres://... or sqlite:///path).
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'gatehouse.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock when a transaction starts, so two writers queue instead of
        # failing with "database is locked" when one upgrades a read lock.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("GATEHOUSE_TEST_DB_NAME") or None}
else:
    # Parallel runs on one server (CI, several developers) each name their own test database.
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("GATEHOUSE_TEST_DB_NAME") or None}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"
AUTHENTICATION_BACKENDS = [
    "gatehouse.users.backends.GatehouseBackend",
]
LOGIN_URL = "users:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "users:login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Login throttling: this many failures for one username (or from one address) within the window lock it out.
LOGIN_FAILURE_LIMIT = int(os.environ.get("GATEHOUSE_LOGIN_FAILURE_LIMIT", "5"))
LOGIN_LOCKOUT_MINUTES = int(os.environ.get("GATEHOUSE_LOGIN_LOCKOUT_MINUTES", "15"))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("GATEHOUSE_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("GATEHOUSE_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise serves from the finders; it only needs the folder to exist
# Front-end packages come from npm (package.json and its lock file) into node_modules/; only the
# files we serve are listed, so nothing else from node_modules reaches the browser.
NODE_MODULES = Path(os.environ.get("GATEHOUSE_NODE_MODULES", PROJECT_DIR / "node_modules"))
STATICFILES_DIRS = [
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/pico", NODE_MODULES / "@picocss" / "pico" / "css"),
    ("vendor/swagger-ui", NODE_MODULES / "swagger-ui-dist"),
]
STATICFILES_DIRS = [(prefix, path) for prefix, path in STATICFILES_DIRS if path.exists()]
STATICFILES_DIRS.insert(0, BASE_DIR / "static")  # our own files: gatehouse/static/gatehouse/...
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Background and scheduled work: Huey in SQLite by default, Redis through REDIS_URL.
REDIS_URL = os.environ.get("REDIS_URL", "")
HUEY_IMMEDIATE = env_bool("GATEHOUSE_HUEY_IMMEDIATE", False)
if REDIS_URL:
    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": os.environ.get("GATEHOUSE_HUEY_NAME", "gatehouse"),
        "url": REDIS_URL,
        "immediate": HUEY_IMMEDIATE,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": os.environ.get("GATEHOUSE_HUEY_NAME", "gatehouse"),
        "filename": str(DATA_DIR / "huey.sqlite3"),
        "immediate": HUEY_IMMEDIATE,
        "consumer": {"workers": 2, "worker_type": "thread"},
    }

# The address people reach Gatehouse at, for links in chat messages and mail (no trailing slash).
BASE_URL = os.environ.get("GATEHOUSE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# Slack's signing secret for the inbound slash command and buttons (docs/chat.md); unset refuses them.
SLACK_SIGNING_SECRET = os.environ.get("GATEHOUSE_SLACK_SIGNING_SECRET", "")

# Desk (part A): uploaded files (request attachments) live under the data directory, never the code.
MEDIA_ROOT = DATA_DIR / "media"
# Access lifecycle (issue 4, part A): leaver revokes on these systems are due in 24 hours, like Tier 1 and SOX.
GATEHOUSE_ACCESS_CRITICAL_SYSTEMS = env_list("GATEHOUSE_ACCESS_CRITICAL_SYSTEMS", "1password,slack")
GATEHOUSE_DESK_ATTACHMENT_MAX_BYTES = int(
    os.environ.get("GATEHOUSE_DESK_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
)

EMAIL_BACKEND = os.environ.get("GATEHOUSE_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("GATEHOUSE_FROM_EMAIL", "gatehouse@localhost")

# API list pages: default and largest page size.
API_PAGE_SIZE = 50
API_MAX_PAGE_SIZE = 1000

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("GATEHOUSE_LOG_LEVEL", "INFO")},
    # A handler of its own keeps run_huey from adding a second one (every line would be printed twice).
    "loggers": {"huey": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
