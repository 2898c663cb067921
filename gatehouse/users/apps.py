from django.apps import AppConfig
from django.db.models.signals import post_migrate


class UsersConfig(AppConfig):
    name = "gatehouse.users"
    label = "users"
    verbose_name = "Users and roles"

    def ready(self) -> None:
        from gatehouse.users.roles import sync_roles

        # Roles are data kept in step with the code after every migrate.
        post_migrate.connect(sync_roles, sender=self)
