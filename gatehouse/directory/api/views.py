from ninja import Router

people_router = Router(tags=["people"])
teams_router = Router(tags=["teams"])
