// Submits the form_post response to the client (OAuth 2.0 Form Post Response
// Mode). Without JavaScript, the user presses Continue.
document.getElementById("form-post").submit();
