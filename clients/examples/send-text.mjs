// Send a WhatsApp text message through wapi (Node.js 18+ or a browser: fetch is built in).
const response = await fetch("http://localhost:8080/api/messages", {
  method: "POST",
  headers: { "X-API-Key": "YOUR_API_KEY", "Content-Type": "application/json" },
  body: JSON.stringify({ to: "923001234567", text: "Hello from wapi" }),
});
const body = await response.json();
if (!body.success) {
  throw new Error(`${body.code}: ${body.error}`);
}
console.log(`message ${body.data.id} is ${body.data.status}`);
