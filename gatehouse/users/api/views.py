"""/api/v1/users/me: who the caller is, and their own API tokens."""

from django.http import HttpRequest
from ninja import Router, Status

from gatehouse.users import services
from gatehouse.users.api.schemas import MeOut, TokenCreatedOut, TokenIn, TokenOut, me
from gatehouse.users.selectors import tokens_of

router = Router(tags=["users"])


@router.get("/me", response=MeOut, summary="Who am I")
def whoami(request: HttpRequest):
    return me(request)


@router.get("/me/tokens", response=list[TokenOut], summary="List my API tokens")
def list_tokens(request: HttpRequest):
    return list(tokens_of(request.user))


@router.post("/me/tokens", response={201: TokenCreatedOut}, summary="Create an API token")
def create_token(request: HttpRequest, payload: TokenIn):
    """The answer holds the secret once; send it as `Authorization: Bearer <secret>`."""
    token, secret = services.create_api_token(actor=request.user, user=request.user, **payload.model_dump())
    token.secret = secret
    return Status(201, token)


@router.delete("/me/tokens/{token_id}", response={204: None}, summary="Revoke one of my API tokens")
def revoke_token(request: HttpRequest, token_id: int):
    token = tokens_of(request.user).get(pk=token_id)
    services.revoke_api_token(token, actor=request.user)
    return Status(204, None)
