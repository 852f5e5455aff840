"""The Streamlit webcam translator and its plain-Python parts (prediction client, sign session)."""
