"""URLs, mounted under ``/aspects/`` in the LMS and Studio."""

app_name = "platform_plugin_aspects"

urlpatterns = []
