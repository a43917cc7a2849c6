"""The Textual console: the app (wiring and lifecycle), its screens, dialogs, widgets, messages.

Every screen that shows database state is a :class:`console.tui.screens.live.LiveScreen`: reads
and writes run in workers under the app's database lock, never on the UI thread.
"""
