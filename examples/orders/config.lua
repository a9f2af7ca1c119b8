-- Where the payment/shipping provider listens. provider.py (started by demo.py) serves this
-- address; change it to point the activities at another provider.
return {
    provider_url = "http://127.0.0.1:8765",
}
