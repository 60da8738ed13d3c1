"""Firms and the enterprise services: profiles, consortia, policies and tier readiness."""
