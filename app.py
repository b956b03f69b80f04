"""Chairside: wiring only. Routes live in chalicelib/<capability>/routes.py."""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate
from chalice.app import CloudWatchEvent, SNSEvent

from chalicelib.analytics.routes import bp as analytics_bp
from chalicelib.appointments.routes import bp as appointments_bp
from chalicelib.audit.routes import bp as audit_bp
from chalicelib.billing.routes import bp as billing_bp
from chalicelib.dashboard.routes import bp as dashboard_bp
from chalicelib.feedback.routes import bp as feedback_bp
from chalicelib.identity.routes import bp as identity_bp
from chalicelib.images import handlers as images
from chalicelib.images.routes import bp as images_bp
from chalicelib.imports.routes import bp as imports_bp
from chalicelib.inbox.routes import bp as inbox_bp
from chalicelib.patients.routes import bp as patients_bp
from chalicelib.platform import jobs
from chalicelib.platform.deps import deps
from chalicelib.platform.headers import security_headers
from chalicelib.platform.middleware import json_errors, observed
from chalicelib.platform.routes import bp as platform_bp
from chalicelib.practices.routes import bp as practices_bp
from chalicelib.reminders import handlers as reminders
from chalicelib.reminders.routes import bp as reminders_bp
from chalicelib.settings.routes import bp as settings_bp

app = Chalice(app_name="chairside", configure_logs=False)
app.register_middleware(observed(app), "all")
app.register_middleware(security_headers, "http")
app.register_middleware(json_errors, "http")

app.register_blueprint(platform_bp)
app.register_blueprint(practices_bp)
app.register_blueprint(identity_bp)
app.register_blueprint(imports_bp)
app.register_blueprint(patients_bp)
app.register_blueprint(audit_bp)
app.register_blueprint(reminders_bp)
app.register_blueprint(appointments_bp)
app.register_blueprint(billing_bp)
app.register_blueprint(images_bp)
app.register_blueprint(inbox_bp)
app.register_blueprint(dashboard_bp)
app.register_blueprint(settings_bp)
app.register_blueprint(feedback_bp)
app.register_blueprint(analytics_bp)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="tick")
def tick(event: CloudWatchEvent) -> dict[str, Any]:
    return jobs.run_all(deps().clock.now(), jobs.lambda_time_left(event.context))


@app.on_sns_message(topic=reminders.INBOUND_SMS_TOPIC, name="inbound_sms")
def inbound_sms(event: SNSEvent) -> dict[str, Any]:
    return reminders.inbound_sms(event.message)


@app.on_sns_message(topic=reminders.SES_FEEDBACK_TOPIC, name="ses_feedback")
def ses_feedback(event: SNSEvent) -> dict[str, Any]:
    return reminders.ses_feedback(event.message)


# The image bucket's ObjectCreated notifications (prefix incoming/) invoke this function. Not
# @app.on_s3_event: `chalice package` (CloudFormation) refuses that decorator, so the bucket's
# NotificationConfiguration in infra/resources.yaml targets this function instead; the event is
# the same S3 notification either way. Locally, POST .../images/{id}/uploaded runs the same use case.
@app.lambda_function(name="process_image_upload")
def process_image_upload(event: dict[str, Any], context: Any) -> dict[str, int]:
    return images.upload_event(event)
