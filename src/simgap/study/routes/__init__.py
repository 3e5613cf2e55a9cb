"""The study app's routes by area: participant pages, the chat, the admin pages. Each module
builds an `APIRouter` over one shared `simgap.study.web.Web` (templates, cookies, guards)."""
