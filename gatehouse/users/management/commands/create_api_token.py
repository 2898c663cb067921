from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from gatehouse.core.management.base import GatehouseCommand
from gatehouse.core.permissions import SYSTEM
from gatehouse.users.models import User
from gatehouse.users.services import create_api_token


class Command(GatehouseCommand):
    help = "Create an API token for a user and print it once. Only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--read-only", action="store_true", help="The token may only read (GET).")
        parser.add_argument("--expires", type=int, metavar="DAYS", help="Expire after this many days.")
        parser.add_argument("--name", default="CLI token", help="A name to recognise the token by.")

    def handle(self, *args, username, read_only, expires, name, **options):
        try:
            user = User.objects.get(username=username)
        except User.DoesNotExist as exc:
            raise CommandError(f"username: no user named {username!r}") from exc
        if not user.is_active or user.access_expired:
            raise CommandError(f"username: {username!r} cannot sign in (inactive or access expired)")
        try:
            token, raw = create_api_token(
                actor=SYSTEM, user=user, name=name, read_only=read_only, expires_in_days=expires
            )
        except ValidationError as exc:
            field, messages = next(iter(exc.message_dict.items()))
            option = {"expires_in_days": "--expires", "name": "--name"}.get(field, field)
            raise CommandError(f"{option}: {' '.join(messages)}") from exc
        scope = "read-only" if token.read_only else "read-write"
        expiry = token.expires_at.strftime("%Y-%m-%d %H:%M UTC") if token.expires_at else "never"
        self.stderr.write(f"Created {scope} token {token.prefix}… for {username} (expires: {expiry}).")
        self.stderr.write("Copy it now; it is not shown again:")
        self.stdout.write(raw)
