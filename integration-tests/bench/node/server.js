// The seed's own server.js (shared/seed/namespace-and-rooms.md), for the benchmark harness.
// Two changes, both about where it listens: the port comes from PORT, and it binds 127.0.0.1
// only (the seed's `require('socket.io')(3000)` listens on every interface).
var httpServer = require('http').createServer();
var io = require('socket.io')(httpServer);

// create a namespace for sports
var sports = io.of('/sports');

// handle connection events for sports namespace
sports.on('connection', function(socket) {
  console.log('a user connected to sports');
  // join a room for soccer fans
  socket.join('soccer');
  // send a message to the soccer room
  sports.to('soccer').emit('message', 'Hello soccer fans!');
  // handle chat messages from clients
  socket.on('chat', function(data) {
    // broadcast the message to the same room
    sports.to(data.room).emit('message', data.message);
  });
});

// create a namespace for movies
var movies = io.of('/movies');

// handle connection events for movies namespace
movies.on('connection', function(socket) {
  console.log('a user connected to movies');
  // join a room for comedy fans
  socket.join('comedy');
  // send a message to the comedy room
  movies.to('comedy').emit('message', 'Hello comedy fans!');
  // handle chat messages from clients
  socket.on('chat', function(data) {
    // broadcast the message to the same room
    movies.to(data.room).emit('message', data.message);
  });
});

httpServer.listen(Number(process.env.PORT) || 3000, '127.0.0.1');
