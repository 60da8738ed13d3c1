"""Chain-matching events (产业链对接活动): events, registrations, meetings, scheduling, agenda, stats."""
