# Rack app for puma in the held-out simulation, the routes of wsgiapp.py.
BODIES = { "/" => "index of the puma test app\n" * 8, "/a.txt" => "a" * 612 + "\n", "/b.txt" => "b" * 1999 + "\n" }
class Parts
  def each
    3.times { |k| yield "part #{k} " * 20 + "\n"; sleep 0.02 }
  end
end
run lambda { |env|
  case env["PATH_INFO"]
  when "/post"
    n = env["rack.input"].read.bytesize
    [200, { "Content-Type" => "text/plain" }, ["got #{n} bytes\n"]]
  when "/stream"
    [200, { "Content-Type" => "text/plain" }, Parts.new]
  when "/nocontent"
    [204, {}, []]
  else
    b = BODIES[env["PATH_INFO"]]
    b ? [200, { "Content-Type" => "text/plain", "Content-Length" => b.bytesize.to_s }, [b]] : [404, { "Content-Type" => "text/plain" }, ["not found\n"]]
  end
}
