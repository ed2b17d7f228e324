-- wrk script for the "realistic" benchmark: every request is the same JSON POST (a cart).
-- Static method/body/headers, so wrk builds the request once (no per-request Lua).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cookie"] = "session=bench; theme=dark"
wrk.body = [[{"customer":{"id":"c-1042","email":"ada@example.com","name":"Ada Lovelace"},
"coupon":" welcome10 ",
"items":[
 {"sku":"B-200","category":"books","qty":2,"price":12.5},
 {"sku":"A-100","category":"games","qty":1,"price":59.99},
 {"sku":"C-300","category":"books","qty":3,"price":7.25},
 {"sku":"D-400","category":"music","qty":1,"price":9.99},
 {"sku":"E-500","category":"games","qty":2,"price":19.95},
 {"sku":"F-600","category":"toys","qty":4,"price":3.5},
 {"sku":"G-700","category":"music","qty":1,"price":14.0},
 {"sku":"H-800","category":"books","qty":1,"price":22.0}
],
"note":"leave at the door, please"}]]
