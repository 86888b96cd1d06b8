"""Paging: channels (Slack, PagerDuty, email, webhook), routing by severity and component,
and the durable outbox that delivers them from `opsbook serve`."""
